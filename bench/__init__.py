"""Benchmarks; not tests (pytest collects only tests/). Run: .venv/bin/python bench/send.py"""
