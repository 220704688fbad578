/**
 * The oracle for original function names: reads the ORIGINAL source with a real parser (acorn +
 * acorn-walk) and names the innermost function-like scope containing an original position, by
 * the rules of docs/API.md "originalFunction". Written independently of src/symbolicate/names
 * (which works on the minified script through the map): the two meet only in those rules.
 */
import { parse } from 'acorn';
import { fullAncestor } from 'acorn-walk';
import type { Node } from 'acorn';

type N = Node & Record<string, any>;

function keyText(member: N): string {
  const key = member.key as N;
  if (member.computed) {
    if (key.type === 'Literal') return `[${key.raw}]`;
    return `[${memberText(key) ?? '<computed>'}]`;
  }
  if (key.type === 'PrivateIdentifier') return `#${key.name}`;
  if (key.type === 'Identifier') return key.name;
  return String(key.value);
}

function memberText(n: N): string | null {
  if (n.type === 'Identifier') return n.name;
  if (n.type === 'ThisExpression') return 'this';
  if (n.type !== 'MemberExpression') return null;
  const obj = memberText(n.object);
  if (obj === null) return null;
  if (!n.computed) return `${obj}.${n.property.type === 'PrivateIdentifier' ? '#' : ''}${n.property.name}`;
  return n.property.type === 'Literal' ? `${obj}[${n.property.raw}]` : null;
}

/** The name a binding gives the node at ancestors[i] (a class or an anonymous function). */
function bindingName(anc: N[], i: number): string | null {
  const node = anc[i]!;
  const parent = anc[i - 1];
  if (!parent) return null;
  switch (parent.type) {
    case 'VariableDeclarator':
      return parent.init === node && parent.id.type === 'Identifier' ? parent.id.name : null;
    case 'AssignmentExpression':
      return parent.right === node ? memberText(parent.left) : null;
    case 'AssignmentPattern':
      return parent.right === node && parent.left.type === 'Identifier' ? parent.left.name : null;
    case 'ExportDefaultDeclaration':
      return 'default';
    case 'Property':
      return parent.value === node ? objectKeyPath(anc, i - 1) : null;
    default:
      return null;
  }
}

/** `owner.a.b` for the Property at anc[i] (an object literal's member). */
function objectKeyPath(anc: N[], i: number): string {
  let path = keyText(anc[i]!);
  let j = i - 1; // the ObjectExpression
  while (anc[j - 1]?.type === 'Property' && anc[j - 1]!.value === anc[j]) {
    path = `${keyText(anc[j - 1]!)}.${path}`;
    j -= 2;
  }
  const owner = bindingName(anc, j);
  return owner ? `${owner}.${path}` : path;
}

function classText(anc: N[], i: number): string {
  const cls = anc[i]!;
  return cls.id ? cls.id.name : (bindingName(anc, i) ?? '<anonymous>');
}

const dotted = (key: string): string => (key.startsWith('[') ? key : `.${key}`);

/** Name of the scope opened by anc[anc.length - 1]. */
function scopeName(anc: N[]): string {
  const i = anc.length - 1;
  const node = anc[i]!;
  const parent = anc[i - 1];
  if (node.type === 'StaticBlock') return `${classText(anc, i - 2)}.<static_initializer>`;
  if (parent?.type === 'PropertyDefinition' && parent.value === node && !/Function/.test(node.type)) {
    return parent.static ? `${classText(anc, i - 3)}.<static_initializer>` : `new ${classText(anc, i - 3)}`;
  }
  if (parent?.type === 'MethodDefinition') {
    const cls = classText(anc, i - 3);
    if (parent.kind === 'constructor') return `new ${cls}`;
    const prefix = parent.kind === 'get' || parent.kind === 'set' ? `${parent.kind} ` : '';
    return `${prefix}${cls}${dotted(keyText(parent))}`;
  }
  if (node.id) return node.id.name;
  if (node.type === 'FunctionDeclaration') return 'default';
  if (parent?.type === 'Property' && parent.value === node) {
    const prefix = parent.kind === 'get' || parent.kind === 'set' ? `${parent.kind} ` : '';
    return prefix + objectKeyPath(anc, i - 1);
  }
  if (parent?.type === 'PropertyDefinition') return `${classText(anc, i - 3)}${dotted(keyText(parent))}`;
  return bindingName(anc, i) ?? '<anonymous>';
}

const parsed = new Map<string, N>();

/** The original name of the function containing 1-based (`line`, `column`) of `text`, `<module>` at top level. */
export function oracleFunctionName(text: string, line: number, column: number): string {
  let ast = parsed.get(text);
  if (!ast) parsed.set(text, (ast = parse(text, { ecmaVersion: 'latest', sourceType: 'module' }) as N));
  let offset = column - 1;
  for (let l = 1, at = 0; l < line; l++) {
    at = text.indexOf('\n', at) + 1;
    offset = at + column - 1;
  }
  let best: N[] | null = null;
  fullAncestor(ast, (node: Node, _state: unknown, ancestors: Node[]) => {
    const n = node as N;
    const parent = ancestors[ancestors.length - 2] as N | undefined;
    const opens =
      /^(FunctionDeclaration|FunctionExpression|ArrowFunctionExpression|StaticBlock)$/.test(n.type) ||
      (parent?.type === 'PropertyDefinition' && parent.value === n);
    if (!opens || offset < n.start || offset >= n.end) return;
    const inner = best?.[best.length - 1];
    if (!inner || n.start > inner.start || (n.start === inner.start && n.end < inner.end)) best = [...ancestors] as N[];
  });
  return best ? scopeName(best) : '<module>';
}
