"""The configuration: TOML + environment, one model module per section, error wording."""
