#!/bin/sh
# Renders users.acl with the ACL users' passwords, as SHA-256 hashes (the passwords themselves are
# never written): WRIT_REDIS_BROKER_PASSWORD and WRIT_REDIS_VERIFIER_PASSWORD come from the
# environment (a secret), never from this repository.
#   render-users-acl.sh users.acl /run/redis/users.acl && redis-server --aclfile /run/redis/users.acl
# Uses only sh, sha256sum and sed, so it runs in the redis:7-alpine image.
set -eu
template=${1:?usage: render-users-acl.sh TEMPLATE OUTPUT}
output=${2:?usage: render-users-acl.sh TEMPLATE OUTPUT}
hash() {
  printf '%s' "$1" | sha256sum | cut -d' ' -f1
}
broker=${WRIT_REDIS_BROKER_PASSWORD:?set WRIT_REDIS_BROKER_PASSWORD (the writ-broker ACL user password)}
verifier=${WRIT_REDIS_VERIFIER_PASSWORD:?set WRIT_REDIS_VERIFIER_PASSWORD (the writ-verifier ACL user password)}
if [ ${#broker} -lt 16 ] || [ ${#verifier} -lt 16 ]; then
  echo 'render-users-acl.sh: the Redis ACL passwords must be at least 16 characters' >&2
  exit 1
fi
umask 077
sed -e "s/@WRIT_REDIS_BROKER_PASSWORD_SHA256@/$(hash "$broker")/" \
  -e "s/@WRIT_REDIS_VERIFIER_PASSWORD_SHA256@/$(hash "$verifier")/" \
  "$template" > "$output"
