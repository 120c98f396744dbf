// The code editor of the board page: CodeMirror 6 with Python, bundled by esbuild (make web) into
// web/vendor/editor.js. createEditor() returns a small handle; the page never touches CodeMirror.
import { basicSetup } from "codemirror";
import { python } from "@codemirror/lang-python";
import { indentWithTab } from "@codemirror/commands";
import { indentUnit } from "@codemirror/language";
import { EditorState, StateEffect, StateField, RangeSet } from "@codemirror/state";
import { Decoration, EditorView, GutterMarker, gutter, keymap } from "@codemirror/view";

const setError = StateEffect.define(); // {line, message} | null

class ErrorMarker extends GutterMarker {
  constructor(message) { super(); this.message = message; }
  toDOM() {
    const s = document.createElement("span");
    s.className = "cm-error-marker";
    s.title = this.message;
    s.textContent = "●";
    return s;
  }
}

// The line an exception came from: a highlighted line and a marker in the gutter, dropped on the
// first edit (the buffer no longer is what ran).
const errorField = StateField.define({
  create: () => null,
  update(v, tr) {
    for (const e of tr.effects) if (e.is(setError)) v = e.value;
    return tr.docChanged ? null : v;
  },
  provide: (f) => [
    EditorView.decorations.from(f, (v) => {
      if (!v) return Decoration.none;
      return Decoration.set([Decoration.line({ class: "cm-error-line", attributes: { "data-error-line": String(v.lineNo) } }).range(v.from)]);
    }),
  ],
});

const errorGutter = gutter({
  class: "cm-error-gutter",
  markers: (view) => {
    const v = view.state.field(errorField);
    return v ? RangeSet.of([new ErrorMarker(v.message).range(v.from)]) : RangeSet.empty;
  },
  initialSpacer: () => new ErrorMarker(""),
});

/**
 * createEditor({parent, doc, onChange(text), onRun()}) -> {getText, setText, markError(line, message),
 * clearError, errorLine(), focus, destroy}. Ctrl/Cmd-Enter calls onRun.
 */
export function createEditor({ parent, doc = "", onChange, onRun }) {
  const runKeys = keymap.of([{ key: "Mod-Enter", preventDefault: true, run: () => { if (onRun) onRun(); return true; } }]);
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        runKeys, basicSetup, keymap.of([indentWithTab]), python(), errorField, errorGutter,
        EditorState.tabSize.of(4), indentUnit.of("    "), // PEP 8, as MicroPython's examples
        EditorView.updateListener.of((u) => { if (u.docChanged && onChange) onChange(u.state.doc.toString()); }),
        EditorView.theme({ "&": { height: "100%" }, ".cm-scroller": { overflow: "auto" } }),
      ],
    }),
  });
  return {
    view,
    getText: () => view.state.doc.toString(),
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    /** Mark line (1-based) of the buffer; a line past the end marks the last one. */
    markError(line, message = "") {
      const n = Math.max(1, Math.min(line, view.state.doc.lines));
      const l = view.state.doc.line(n);
      view.dispatch({ effects: [setError.of({ from: l.from, lineNo: n, message }), EditorView.scrollIntoView(l.from, { y: "center" })] });
    },
    clearError() { view.dispatch({ effects: setError.of(null) }); },
    errorLine() { const v = view.state.field(errorField); return v ? v.lineNo : null; },
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
