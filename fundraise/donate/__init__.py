"""Giving: the donation panel on a campaign page, the donation form, the thank-you page with the receipt, a
donor's history, a campaign's public list of gifts and public ledger, and the staff refund pages.

Views translate HTTP into calls to `fundraise.services.donations`; how gifts, ledger lines and states are
worded and listed for people lives in `presenters`.
"""
