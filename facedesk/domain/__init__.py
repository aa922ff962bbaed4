"""Pure face, image, rate and progress logic: no database, no Qt, no dlib (the engine is
passed in)."""
