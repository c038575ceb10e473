"""How the world reaches the menu: HTTP routes and event consumers."""
