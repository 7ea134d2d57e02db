"""The checks, one package per capability; no check package imports another."""
