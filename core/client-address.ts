import net from 'node:net';

/**
 * Who sent a request when reverse proxies sit in front of the server. X-Forwarded-For is read only
 * when the socket's peer is a trusted proxy, and then from the right: each trusted proxy appends the
 * address it saw, so the right-most address that is not a trusted proxy is the client. Everything to
 * its left was written by the client and is ignored.
 *
 * Matching uses node:net's BlockList (IPv4, IPv6, CIDR subnets, and IPv4-mapped IPv6 peers against
 * IPv4 rules), so no address parsing is written here beyond stripping ports and brackets.
 */
export interface TrustedProxies {
  readonly entries: readonly string[];
  has(address: string): boolean;
}

/** Why an entry of RAGLINE_TRUSTED_PROXIES is not an IP address or CIDR range; undefined when it is one. */
export function proxyEntryProblem(entry: string): string | undefined {
  const [address = '', prefix, extra] = entry.split('/');
  const family = net.isIP(address);
  if (!family || extra !== undefined) return `"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)`;
  if (prefix === undefined) return undefined;
  const bits = Number(prefix);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || bits > max) return `"${entry}": the prefix length must be 0–${max}`;
  return undefined;
}

export function trustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new net.BlockList();
  for (const entry of entries) {
    const problem = proxyEntryProblem(entry);
    if (problem) throw new Error(problem);
    const [address = '', prefix] = entry.split('/');
    const type = net.isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return {
    entries,
    has(address) {
      const type = net.isIP(address);
      return type !== 0 && list.check(address, type === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

export const NO_TRUSTED_PROXIES: TrustedProxies = trustedProxies([]);

/** "1.2.3.4", "1.2.3.4:80", "[::1]:80", "::ffff:1.2.3.4" → a bare address (IPv4-mapped folded to IPv4); null if none. */
export function bareAddress(raw: string): string | null {
  let value = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) value = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value);
  if (mapped) value = mapped[1]!;
  return net.isIP(value) ? value.toLowerCase() : null;
}

/**
 * The client's address: the peer itself unless it is a trusted proxy; then the right-most
 * X-Forwarded-For address that is not a trusted proxy. A malformed hop stops the walk at the last
 * trusted address (a proxy that writes garbage is not believed further).
 */
export function resolveClientAddress(peer: string, forwardedFor: string | undefined, trusted: TrustedProxies): string {
  const direct = bareAddress(peer) ?? peer;
  if (!forwardedFor || !trusted.has(direct)) return direct;
  let client = direct;
  const hops = forwardedFor.split(',').slice(-64); // bounded: a header of thousands of hops costs nothing more
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = bareAddress(hops[i]!);
    if (!hop) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}
