"""Request and response models, one module per resource (Base → Public / ListPublic families)."""
