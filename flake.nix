{
  description = "effect-rtmp: a live RTMP server, relay and library on Effect-TS";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_20
            pkgs.ffmpeg
            pkgs.rtmpdump
            # nginx with the RTMP module: the remote peer for pull/push relay tests.
            (pkgs.nginx.override { modules = [ pkgs.nginxModules.rtmp ]; })
            # The browser tests drive Chromium through puppeteer-core (executablePath); curl and the
            # Prometheus text parser check HTTP-FLV and /metrics.
            pkgs.chromium
            pkgs.curl
            # Test CAs and certificates for RTMPS and HTTPS.
            pkgs.openssl
            # The cluster tests: a directory in Redis, nodes behind HAProxy in TCP mode.
            pkgs.redis
            pkgs.haproxy
            (pkgs.python3.withPackages (ps: [ ps.prometheus-client ]))
          ];
        };
      });
    };
}
