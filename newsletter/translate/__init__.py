"""Translation: the pure core, the Argos engine, model packages, the pending step."""
