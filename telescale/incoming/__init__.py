"""incoming"""
