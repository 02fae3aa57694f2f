"""Autoscaling and autohealing: scaling groups, their policies and triggers, the decisions (every one logged
with its reason) and the member drivers that carry them out."""
