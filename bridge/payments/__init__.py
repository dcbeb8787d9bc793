"""Payments: bank and MoMo "money received" messages become transactions (parsers); the
matcher decides which pending order a transaction pays, if any, without doubt."""
