/**
 * Function-like scopes of a (minified) script and the names they carry there, found the way
 * Sentry's js-source-scopes does: parse with acorn, then name each scope from its syntactic
 * context. A name is a list of parts; identifier parts keep their generated position so
 * map-names.ts can swap the minified identifier for the original one through the map's `names`.
 *
 * Naming rules (what a developer reads in source; docs/API.md "originalFunction"):
 *   function checkout() {}            checkout
 *   class Cart { subtotal() {} }      Cart.subtotal        #applyDiscount() {}  Cart.#applyDiscount
 *   constructor() {}                  new Cart             get total() {}       get Cart.total
 *   field = () => {}                  Cart.field           items = load()       new Cart (runs in the constructor)
 *   static { … } / static x = f()     Cart.<static_initializer>
 *   const f = () => {} / a.b = function () {} / { key() {} } / { key: () => {} }
 *                                     f / a.b / owner.key (owner = the object's variable, if any)
 *   export default function () {}     default
 *   anything else (callbacks, IIFEs)  <anonymous>
 * A named function expression keeps its own name (`x = function y() {}` is `y`), as engines do.
 */
import { parse } from 'acorn';
import type { Options } from 'acorn';
import { InternalError, at as item } from '../../util/invariant.ts';

/** 0-based line, 0-based UTF-16 column (sourcemap conventions). */
export interface Position {
  line: number;
  column: number;
}

/** An identifier of the generated script (mapped through the map), or fixed text. */
export type NamePart = string | { text: string; at: Position; private?: true };

export interface ScriptScope {
  start: Position;
  end: Position;
  name: NamePart[];
  /**
   * Where a `function` (not a method) starts: if the original text there reads
   * `function NAME`, that name wins (minifiers drop or inline names; the header survives).
   */
  header?: Position;
}

/**
 * `declared`: every name the script binds (variables, functions, classes, parameters, imports,
 * catch parameters). A minifier renames only these; any other identifier (`globalThis`, `window`)
 * is spelled as in the original.
 */
export type ScopeParse = { scopes: ScriptScope[]; declared: Set<string>; problem?: undefined } | { scopes: null; problem: string };

/** The acorn node shape this module reads: everything is looked up by field name. */
interface AstNode {
  type: string;
  start: number;
  end: number;
  [field: string]: unknown;
}

const ANONYMOUS = '<anonymous>';
const STATIC_INIT = '<static_initializer>';
/** Longest member chain (`a.b.c…`) spelled out in a name; deeper ones are cut from the left. */
const MAX_NAME_PARTS = 24;

// No `locations`: three objects per node are most of the parse's garbage on a multi-MiB bundle;
// the few positions needed are computed from offsets (LineIndex).
const BASE_OPTIONS: Options = {
  ecmaVersion: 'latest',
  allowHashBang: true,
  allowReturnOutsideFunction: true,
  allowImportExportEverywhere: true,
  allowAwaitOutsideFunction: true,
};

function parseScript(text: string): AstNode | string {
  try {
    return parse(text, { ...BASE_OPTIONS, sourceType: 'module' }) as unknown as AstNode;
  } catch (moduleError) {
    // Sloppy-mode scripts (`with`, legacy octal, `await` as a name) only parse as scripts.
    try {
      return parse(text, { ...BASE_OPTIONS, sourceType: 'script' }) as unknown as AstNode;
    } catch {
      // A stack overflow on absurd nesting lands here too (RangeError): reported, never thrown.
      return (moduleError as Error).message;
    }
  }
}

const isNode = (v: unknown): v is AstNode => typeof v === 'object' && v !== null && typeof (v as AstNode).type === 'string';
const child = (n: AstNode, field: string): AstNode | null => (isNode(n[field]) ? (n[field] as AstNode) : null);

/** A child the ESTree shape always has (`VariableDeclarator.id`, `MemberExpression.object`…). */
function required(n: AstNode, field: string): AstNode {
  const c = child(n, field);
  if (!c) throw new InternalError(`a ${n.type} node without its ${field}`);
  return c;
}

/** The class of a class member: member → ClassBody → class (both links recorded: NAMING_TYPES). */
function classOf(member: AstNode, parents: Map<AstNode, AstNode>): AstNode {
  const body = parents.get(member);
  const cls = body && parents.get(body);
  if (!cls) throw new InternalError(`the class of a ${member.type} was not recorded`);
  return cls;
}

/** Offsets → 0-based line and UTF-16 column, with ECMAScript's line terminators (as browsers count). */
class LineIndex {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    const re = /\r\n?|[\n\u2028\u2029]/g;
    for (let m = re.exec(text); m; m = re.exec(text)) this.starts.push(m.index + m[0].length);
  }
  at(offset: number): Position {
    let lo = 0;
    let hi = this.starts.length;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (item(this.starts, mid) <= offset) lo = mid;
      else hi = mid;
    }
    return { line: lo, column: offset - item(this.starts, lo) };
  }
}

/** The current script's line index (collectScopes is synchronous and not reentrant). */
let lines: LineIndex = new LineIndex('');
const pos = (offset: number): Position => lines.at(offset);

function ident(n: AstNode): NamePart {
  if (n.type === 'PrivateIdentifier') return { text: `#${n.name as string}`, at: pos(n.start), private: true };
  return { text: n.name as string, at: pos(n.start) };
}

/** Node types whose parent naming needs; only these are recorded (a Map entry per node is costly). */
const NAMING_TYPES = new Set([
  'FunctionDeclaration',
  'FunctionExpression',
  'ArrowFunctionExpression',
  'ClassDeclaration',
  'ClassExpression',
  'ClassBody',
  'MethodDefinition',
  'PropertyDefinition',
  'Property',
  'ObjectExpression',
  'StaticBlock',
]);

/**
 * Collects every function-like scope, in source order (a parent before its children). Iterative,
 * so the walk itself cannot overflow the stack; work and memory are linear in the script's size.
 */
export function collectScopes(text: string): ScopeParse {
  const root = parseScript(text);
  if (typeof root === 'string') return { scopes: null, problem: `the script does not parse: ${root}` };
  lines = new LineIndex(text);
  const parents = new Map<AstNode, AstNode>();
  const scopes: ScriptScope[] = [];
  const declared = new Set<string>();
  const stack: AstNode[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    collectDeclared(node, declared);
    const name = scopeName(node, parents);
    if (name) {
      const scope: ScriptScope = { start: pos(node.start), end: pos(node.end), name };
      if (hasHeader(node, parents.get(node))) scope.header = scope.start;
      scopes.push(scope);
    }
    const init = node.type === 'PropertyDefinition' ? child(node, 'value') : null;
    if (init && !isFunction(init)) {
      // A class field's initializer that is not itself a function runs as part of construction
      // (instance fields) or of the class definition (static fields).
      const cls = classOf(node, parents);
      const initName = node.static ? [...className(cls, parents), `.${STATIC_INIT}`] : ['new ', ...className(cls, parents)];
      scopes.push({ start: pos(init.start), end: pos(init.end), name: initName });
    }
    // Children pushed in reverse so they pop in source order.
    const kids: AstNode[] = [];
    for (const key in node) {
      const v = node[key];
      if (Array.isArray(v)) {
        for (const item of v) if (isNode(item)) kids.push(item);
      } else if (isNode(v)) kids.push(v);
    }
    for (const kid of kids.reverse()) {
      if (NAMING_TYPES.has(kid.type)) parents.set(kid, node);
      stack.push(kid);
    }
  }
  lines = new LineIndex('');
  scopes.sort((a, b) => a.start.line - b.start.line || a.start.column - b.start.column);
  return { scopes, declared };
}

/** Adds the names `node` binds directly (patterns add theirs when the walk reaches them). */
function collectDeclared(node: AstNode, declared: Set<string>): void {
  const add = (n: unknown): void => {
    if (isNode(n) && n.type === 'Identifier') declared.add(n.name as string);
  };
  switch (node.type) {
    case 'VariableDeclarator':
      add(node.id);
      break;
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      add(node.id);
      for (const p of node.params as unknown[]) add(p);
      break;
    case 'ClassDeclaration':
    case 'ClassExpression':
      add(node.id);
      break;
    case 'CatchClause':
      add(node.param);
      break;
    case 'ImportSpecifier':
    case 'ImportDefaultSpecifier':
    case 'ImportNamespaceSpecifier':
      add(node.local);
      break;
    case 'ArrayPattern':
      for (const e of node.elements as unknown[]) add(e);
      break;
    case 'ObjectPattern':
      for (const p of node.properties as AstNode[]) add(p.type === 'Property' ? p.value : p);
      break;
    case 'AssignmentPattern':
      add(node.left);
      break;
    case 'RestElement':
      add(node.argument);
      break;
  }
}

/** The name of `node` if it opens a function-like scope, else null. */
function scopeName(node: AstNode, parents: Map<AstNode, AstNode>): NamePart[] | null {
  const parent = parents.get(node);
  switch (node.type) {
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      return functionName(node, parent, parents);
    case 'StaticBlock': {
      const cls = parent && parents.get(parent);
      return cls ? [...className(cls, parents), `.${STATIC_INIT}`] : [STATIC_INIT];
    }
    default:
      return null;
  }
}

/** A `function` keyword starts the node (not a method or accessor, whose node starts at `(`). */
function hasHeader(n: AstNode, parent: AstNode | undefined): boolean {
  if (n.type === 'FunctionDeclaration') return true;
  if (n.type !== 'FunctionExpression') return false;
  return !(parent?.type === 'MethodDefinition' || (parent?.type === 'Property' && (parent.method || parent.kind !== 'init')));
}

const isFunction = (n: AstNode): boolean => n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression';

function functionName(fn: AstNode, parent: AstNode | undefined, parents: Map<AstNode, AstNode>): NamePart[] {
  const id = child(fn, 'id');
  if (parent?.type === 'MethodDefinition' && parent.value === fn) {
    const cls = classOf(parent, parents);
    if (parent.kind === 'constructor') return ['new ', ...className(cls, parents)];
    const prefix = parent.kind === 'get' ? 'get ' : parent.kind === 'set' ? 'set ' : '';
    return [prefix, ...className(cls, parents), ...member(keyName(parent))];
  }
  if (id) return [ident(id)];
  if (fn.type === 'FunctionDeclaration') return ['default']; // `export default function () {}`
  if (parent?.type === 'Property' && parent.value === fn) {
    const prefix = parent.kind === 'get' ? 'get ' : parent.kind === 'set' ? 'set ' : '';
    return [prefix, ...propertyPath(parent, parents)];
  }
  if (parent?.type === 'PropertyDefinition' && parent.value === fn) {
    return [...className(classOf(parent, parents), parents), ...member(keyName(parent))];
  }
  return contextName(fn, parent, parents) ?? [ANONYMOUS];
}

/** The name a binding context gives an anonymous function or class: `x = …`, `a.b = …`, `export default …`. */
function contextName(n: AstNode, parent: AstNode | undefined, parents: Map<AstNode, AstNode>): NamePart[] | null {
  if (!parent) return null;
  if (parent.type === 'VariableDeclarator' && parent.init === n) {
    const target = required(parent, 'id');
    return target.type === 'Identifier' ? [ident(target)] : null;
  }
  if (parent.type === 'AssignmentExpression' && parent.right === n) return memberPath(required(parent, 'left'));
  if (parent.type === 'AssignmentPattern' && parent.right === n) {
    const target = required(parent, 'left');
    return target.type === 'Identifier' ? [ident(target)] : null;
  }
  if (parent.type === 'Property' && parent.value === n) return propertyPath(parent, parents);
  if (parent.type === 'ExportDefaultDeclaration') return ['default'];
  return null;
}

function className(cls: AstNode, parents: Map<AstNode, AstNode>): NamePart[] {
  const id = child(cls, 'id');
  // Bundlers rewrite `class Cart` as `var Cart = class _Cart`: the variable is the developer's name.
  const parent = parents.get(cls);
  const variable = parent?.type === 'VariableDeclarator' ? child(parent, 'id') : null;
  if (id && variable?.type === 'Identifier') return [ident(variable)];
  if (id) return [ident(id)];
  return contextName(cls, parents.get(cls), parents) ?? [ANONYMOUS];
}

/** `{ a: { b() {} } }` assigned to `api`: `api.a.b`; with no owner just `a.b`. */
function propertyPath(prop: AstNode, parents: Map<AstNode, AstNode>): NamePart[] {
  const parts: NamePart[] = [...keyName(prop)];
  let obj = parents.get(prop);
  for (let depth = 0; obj?.type === 'ObjectExpression' && depth < MAX_NAME_PARTS; depth++) {
    const holder = parents.get(obj);
    if (holder?.type === 'Property' && holder.value === obj) {
      parts.unshift(...keyName(holder), '.');
      obj = parents.get(holder);
      continue;
    }
    const owner = contextName(obj, holder, parents);
    if (owner) parts.unshift(...owner, '.');
    break;
  }
  return parts;
}

/** `.key`, or `[expr]` as is. */
const member = (key: NamePart[]): NamePart[] =>
  key[0] === '[' || (typeof key[0] === 'string' && key[0].startsWith('[')) ? key : ['.', ...key];

/** A property or method key as written: `name`, `#name`, `"str"` → str, `[expr]`. */
function keyName(member: AstNode): NamePart[] {
  const key = required(member, 'key');
  if (member.computed) {
    if (key.type === 'Literal') return [`[${String(key.raw ?? key.value)}]`];
    const path = memberPath(key);
    return path ? ['[', ...path, ']'] : ['[<computed>]'];
  }
  if (key.type === 'Identifier' || key.type === 'PrivateIdentifier') return [ident(key)];
  return [String(key.value)];
}

/** `a.b.c`, `this.x`, `a.#p`, `a["k"]` as name parts; null for anything else. Iterative. */
function memberPath(expr: AstNode): NamePart[] | null {
  const parts: NamePart[] = [];
  let n: AstNode = expr;
  for (;;) {
    if (n.type === 'Identifier') {
      parts.unshift(ident(n));
      break;
    }
    if (n.type === 'ThisExpression') {
      parts.unshift('this');
      break;
    }
    if (n.type !== 'MemberExpression') return null;
    const prop = required(n, 'property');
    if (!n.computed) parts.unshift('.', ident(prop));
    else if (prop.type === 'Literal') parts.unshift(`[${String(prop.raw ?? prop.value)}]`);
    else return null;
    n = required(n, 'object');
  }
  return parts.length > MAX_NAME_PARTS ? parts.slice(parts.length - MAX_NAME_PARTS) : parts;
}
