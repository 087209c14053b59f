# tests/ is a package so its helper module (tests/reference.py) is imported as tests.reference
# and cannot collide with same-named modules elsewhere (parity/ runs in the same pytest session).
