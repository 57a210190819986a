import { ConfigError } from '../../errors.js';

export interface EnvoyPlatform {
  /** Key of func-e's versions index (`<goos>/<goarch>`). */
  indexKey: string;
  /** Suffix of Envoy's own release asset (`envoy-<V>-linux-<arch>`); absent where Envoy publishes none. */
  releaseArch?: 'x86_64' | 'aarch_64';
}

const GO_ARCH: Partial<Record<string, string>> = { x64: 'amd64', arm64: 'arm64' };
const RELEASE_ARCH: Partial<Record<string, 'x86_64' | 'aarch_64'>> = { x64: 'x86_64', arm64: 'aarch_64' };

/** Envoy's names for this host; a ConfigError (exit 2) where no Envoy binaries exist. */
export function envoyPlatform(os: string = process.platform, arch: string = process.arch): EnvoyPlatform {
  const goArch = GO_ARCH[arch];
  if ((os === 'linux' || os === 'darwin') && goArch) {
    const platform: EnvoyPlatform = { indexKey: `${os}/${goArch}` };
    if (os === 'linux') platform.releaseArch = RELEASE_ARCH[arch]!;
    return platform;
  }
  throw new ConfigError(`no Envoy builds exist for this platform (${os}/${arch}): only linux x64/arm64 and macOS x64/arm64 are supported`, {
    hint: 'install Envoy yourself and pass --binary-path',
  });
}
