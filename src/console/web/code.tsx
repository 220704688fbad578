import { useEffect, useMemo, useRef } from 'preact/hooks';

/**
 * Text with line numbers. Two <pre> elements (numbers and text) instead of one element per line,
 * so a 100 000-line file is two DOM nodes; `highlight` (1-based) is marked and scrolled into view.
 */
export function CodeView({ text, label, highlight }: { text: string; label: string; highlight?: number }) {
  const lines = useMemo(() => text.split(/\r\n|\r|\n/), [text]);
  const numbers = useMemo(() => lines.map((_, i) => i + 1).join('\n'), [lines]);
  const mark = useRef<HTMLElement>(null);
  useEffect(() => {
    mark.current?.scrollIntoView({ block: 'center' });
  }, [highlight, text]);
  const h = highlight && highlight <= lines.length ? highlight : undefined;
  return (
    <div class="code" role="region" aria-label={`${label}, ${lines.length} lines`} tabIndex={0}>
      <pre class="gutter" aria-hidden="true">
        {numbers}
      </pre>
      <pre class="text">
        {h === undefined ? (
          text
        ) : (
          <>
            {lines.slice(0, h - 1).join('\n')}
            {h > 1 ? '\n' : ''}
            <mark ref={mark}>{lines[h - 1]}</mark>
            {h < lines.length ? '\n' : ''}
            {lines.slice(h).join('\n')}
          </>
        )}
      </pre>
    </div>
  );
}
