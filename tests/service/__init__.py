"""statusbot under systemd: sd_notify, the guarded watchdog, the unit file."""
