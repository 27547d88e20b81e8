"""Standard-library programs the layer ships to its pods in ConfigMaps (run with a plain `python` image)."""
