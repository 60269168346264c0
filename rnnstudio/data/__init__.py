"""Reading and checking the user's data files."""
