"""Plots and the HTML report, always made from results JSON."""
