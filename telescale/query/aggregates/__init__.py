"""Dynamic aggregates: parse an operations tree, align the referenced series, evaluate the operators."""
