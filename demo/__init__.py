"""`make demo`: the seed's interview demo, replayed on this host with real parts."""
