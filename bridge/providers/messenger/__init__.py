"""messenger"""
