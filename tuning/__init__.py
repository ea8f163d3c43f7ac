"""keras-tuner random search over each app's own `build_model` (see the tuning issue)."""
