"""One module of checks per course_lib module; each registers its exercises on import."""
