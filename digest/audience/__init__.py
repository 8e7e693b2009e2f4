"""The audience: who receives a digest, in which tier and language, whether they may be mailed
(status and suppression), and the signed links that let them unsubscribe or change preferences.

Modules: `model` (tiers, locales, statuses, records), `addresses` (normalization), `store`
(subscribers in the database), `suppression` (the keyed-hash do-not-mail list), `tokens` (signed
links), `csvio` (import and export), `consent` (confirmations), `selection` (the one mailable
rule: streamed recipients for a send, the interest sets editions are rendered for, the zones).
"""
