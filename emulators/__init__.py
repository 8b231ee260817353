"""Faithful stand-ins for the outside systems leadbot talks to."""
