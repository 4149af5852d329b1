# /etc/dovecot/sieve/opesd-dedup.sieve - drop a second copy of a message opesd
# already delivered to this mailbox (sieve_before in 99-opesd.conf).
#
# opesd stamps every copy with OPES-Delivery-Id, the same on every retry of
# the same message. A retry after opesd died while Dovecot was saving (the
# MTA never got the 250) carries the id again and is discarded here. The id is
# marked only when the delivery succeeds, so a failed save is retried.
# Compile it once, as root: sievec /etc/dovecot/sieve/opesd-dedup.sieve
require "duplicate";

if duplicate :header "OPES-Delivery-Id" :seconds 604800 {
  discard;
  stop;
}
