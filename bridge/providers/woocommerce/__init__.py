"""woocommerce"""
