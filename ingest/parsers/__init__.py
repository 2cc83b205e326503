"""Parser families: one module per log family, each a pure function raw line -> EcsEvent."""
