"""Small Lightning projects written the way their users write them, swept as they are
(tests/tuning/driver/test_existing_projects.py)."""
