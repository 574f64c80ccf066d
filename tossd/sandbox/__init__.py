"""The built-in imitation of the Tossable Digits API, for the demo and the tests."""
