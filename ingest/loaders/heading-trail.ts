/** The headings above the current point of a document, outermost first. */
export class HeadingTrail {
  private readonly stack: { depth: number; text: string }[] = [];

  /** A heading of `depth` (1 = h1) closes every open heading at the same or a deeper level. */
  enter(depth: number, text: string): void {
    while (this.stack.length > 0 && this.stack.at(-1)!.depth >= depth) this.stack.pop();
    const tidy = text.replace(/\s+/g, ' ').trim();
    if (tidy !== '') this.stack.push({ depth, text: tidy });
  }

  get path(): string[] {
    return this.stack.map((heading) => heading.text);
  }
}
