"""Publisher tests: real client libraries against loopback servers."""
