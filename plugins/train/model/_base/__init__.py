"""ModelBase and its helpers: IO, State, Settings, Inference."""
