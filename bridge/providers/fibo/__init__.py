"""FiboSMS push: received SMS forwarded by FiboSMS as a GET with the message in the query."""
from .. import Provider

PROVIDER = Provider(name="fibo")
