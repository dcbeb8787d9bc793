"""smsgate"""
