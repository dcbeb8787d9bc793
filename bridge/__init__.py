"""woo-bridge: WooCommerce events to SMS/Messenger, and bank SMS to paid orders."""

__version__ = "0.1.0"
