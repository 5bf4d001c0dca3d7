#!/usr/bin/env bash
# Installs the Elasticsearch and OpenSearch test nodes (integ-test zips from Maven Central) and the
# unprivileged user that runs them (both refuse to run as root). Idempotent: a finished install
# leaves a marker file and the next run only checks it.
#
#   LOGFLUME_SEARCHNODE_HOME   install root (default /var/cache/logflume-test; not under /root,
#                              which the unprivileged user cannot traverse)
#   LOGFLUME_SEARCHNODE_USER   the user the nodes run as (default logflume-test)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../tests/searchnode/versions.env
source tests/searchnode/versions.env

root="${LOGFLUME_SEARCHNODE_HOME:-/var/cache/logflume-test}"
user="${LOGFLUME_SEARCHNODE_USER:-logflume-test}"
plugin_src="tests/searchnode/es-root-info/src"
# The marker names the plugin source's hash, so editing the plugin rebuilds it.
plugin_hash="$(cat "$plugin_src"/org/logflume/testnode/*.java | sha256sum | cut -c1-16)"

# Both distributions are run (and the plugin built) with a Java 17 JDK, whatever the default java is.
jdk17() { compgen -G "/usr/lib/jvm/java-17-openjdk-*/bin/javac" | head -n1 | xargs -r dirname | xargs -r dirname; }
need_pkgs=()
command -v mvn >/dev/null || need_pkgs+=(maven)
[ -n "$(jdk17)" ] || need_pkgs+=(openjdk-17-jdk-headless)
command -v unzip >/dev/null || need_pkgs+=(unzip)
command -v runuser >/dev/null || need_pkgs+=(util-linux)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! id "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
fi

mkdir -p "$root"
chmod 755 "$root"

# fetch GROUP ARTIFACT VERSION DIRNAME: download the zip through Maven (cache in ~/.m2) and unpack it.
fetch() {
  local group="$1" artifact="$2" version="$3" dir="$4"
  if [ -f "$root/$dir/.logflume-installed" ]; then
    return 0
  fi
  local tmp
  tmp="$(mktemp -d)"
  local out
  if ! out="$(mvn -q -B dependency:copy "-Dartifact=$group:$artifact:$version:zip" "-DoutputDirectory=$tmp" 2>&1)"; then
    echo "$out" >&2
    echo "searchnode.sh: cannot download $group:$artifact:$version:zip from Maven Central" >&2
    exit 1
  fi
  rm -rf "${root:?}/$dir" "$tmp/unpacked"
  unzip -q "$tmp/$artifact-$version.zip" -d "$tmp/unpacked"
  mv "$tmp/unpacked/$artifact-$version" "$root/$dir"
  rm -rf "$tmp"
  chmod -R a+rX "$root/$dir"
  touch "$root/$dir/.logflume-installed"
}

fetch org.elasticsearch.distribution.integ-test-zip elasticsearch "$ES_VERSION" "elasticsearch-$ES_VERSION"
fetch org.opensearch.distribution.integ-test-zip opensearch "$OPENSEARCH_VERSION" "opensearch-$OPENSEARCH_VERSION"

# The Elasticsearch integ-test zip lacks the rest-root module (GET / answers 405, so the official
# client's info() fails): build a small stand-in module against the distribution's own jars.
es_home="$root/elasticsearch-$ES_VERSION"
module="$es_home/modules/logflume-root-info"
if [ "$(cat "$module/.logflume-built" 2>/dev/null)" != "$plugin_hash" ]; then
  tmp="$(mktemp -d)"
  java_home="$(jdk17)"
  "$java_home/bin/javac" --release 17 -nowarn -cp "$es_home/lib/*" -d "$tmp/classes" \
    "$plugin_src"/org/logflume/testnode/*.java
  rm -rf "$module"
  mkdir -p "$module"
  "$java_home/bin/jar" cf "$module/logflume-root-info.jar" -C "$tmp/classes" .
  cat > "$module/plugin-descriptor.properties" <<EOF
description=Serves GET / on the integ-test distribution (logflume test node only)
version=$ES_VERSION
name=logflume-root-info
classname=org.logflume.testnode.RootInfoPlugin
java.version=17
elasticsearch.version=$ES_VERSION
EOF
  rm -rf "$tmp"
  chmod -R a+rX "$module"
  echo "$plugin_hash" > "$module/.logflume-built"
fi
echo "search nodes ready in $root (elasticsearch $ES_VERSION, opensearch $OPENSEARCH_VERSION, user $user)"
