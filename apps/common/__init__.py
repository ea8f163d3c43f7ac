"""What every app shares: config, data sources, the training path, export, reports, CLI."""
