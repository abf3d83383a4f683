from socketproxy.cli import main

raise SystemExit(main())
