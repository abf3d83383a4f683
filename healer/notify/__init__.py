"""Telling people what happened: one email per incident, durably.

view.py (what a notification says) → mail.py / slack.py (how each channel lays
it out) → smtp.py / eml.py (how it travels) — all driven by outbox.py, which
queues first and delivers from one sender thread, with storm digests planned by
grouping.py. alerts_log.py keeps the one-JSON-line-per-notification log.
"""
