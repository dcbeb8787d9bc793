"""esms"""
