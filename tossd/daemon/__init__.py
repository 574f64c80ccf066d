"""The daemon: lifecycle, operations, health, HTTP, metrics, systemd, self-alerts, pruning."""
