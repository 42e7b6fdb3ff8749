// The page tests/browser/test_export_in_browser.py drives: react-jsonschema-form draws each
// exported action's form, and Ajv in strict mode compiles and checks every exported schema.
// Bundled by esbuild in the test's setup; nothing built is committed.
import React from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import Form from "@rjsf/core";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv from "ajv";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";

// What the export's top level tells a builder to do: strict Ajv, the standard formats, and
// each keyword of the export's vocabulary declared.
function declareVocabulary(ajv, vocabulary) {
  for (const keyword of Object.keys(vocabulary.keywords)) ajv.addKeyword(keyword);
  return ajv;
}

function strictAjv(AjvClass, vocabulary) {
  const ajv = new AjvClass({ strict: true, allErrors: true });
  addFormats(ajv);
  return declareVocabulary(ajv, vocabulary);
}

let root = null;

// Draws one action's form as a builder would, then has RJSF's validator check the form's data
// as drawn (its defaults): that compiles the form's schema with RJSF's validator, here in Ajv's default strict
// mode (RJSF's own option-matching schemas break `strictRequired`, so not `strict: true`).
function render(action, vocabulary) {
  const container = document.getElementById("form");
  if (root) root.unmount();
  root = createRoot(container);
  const validator = customizeValidator({
    ajvOptionsOverrides: { strict: undefined },
    extenderFn: (ajv) => declareVocabulary(ajv, vocabulary),
  });
  const ref = React.createRef();
  flushSync(() => {
    root.render(
      <Form ref={ref} schema={action.inputs} uiSchema={action.ui_schema} validator={validator} />
    );
  });
  const formData = ref.current.state.formData;
  const { errors } = validator.validateFormData(formData, action.inputs);
  return {
    fields: describe(action),
    formData,
    errors: errors.map((e) => ({ name: e.name, property: e.property, params: e.params })),
  };
}

function text(node) {
  return node ? node.textContent.trim() : null;
}

// What a person sees for each field: its label, whether it is marked required, its widget and
// the value it shows.
function describe(action) {
  const fields = {};
  for (const key of Object.keys(action.inputs.properties)) {
    const id = `root_${key}`;
    const control = document.getElementById(id);
    const label = document.querySelector(`label[for="${id}"]`) || control?.closest("label");
    const legend = control?.tagName === "FIELDSET" ? control.querySelector("legend") : null;
    const title = label || legend;
    const field = {
      found: control !== null,
      tag: control?.tagName.toLowerCase() ?? null,
      type: control?.getAttribute("type") ?? null,
      label: title ? text(title).replace(/\*$/, "") : null,
      required_marked: Boolean(title?.querySelector(".required")) || Boolean(control?.required),
    };
    if (control?.classList.contains("checkboxes")) {
      const boxes = Array.from(control.querySelectorAll("input[type=checkbox]"));
      field.options = boxes.map((box) => text(box.closest("label")));
      field.selected = boxes.filter((box) => box.checked).map((box) => text(box.closest("label")));
    } else if (control?.tagName === "FIELDSET") {
      field.addable = control.querySelector(`button[id="${id}__add"]`) !== null;
    } else if (control?.tagName === "SELECT") {
      field.options = Array.from(control.options).map((o) => text(o));
      field.selected = control.selectedIndex >= 0 ? text(control.options[control.selectedIndex]) : null;
      field.selected = control.value === "" ? null : field.selected;
    } else if (control?.type === "checkbox") {
      field.value = control.checked;
    } else if (control && "value" in control) {
      field.value = control.value;
    }
    fields[key] = field;
  }
  return fields;
}

// Every schema compiled by strict Ajv (draft-07 and 2020-12); each sample request checked
// against what the export says a builder may save. Returns the problems, as text.
function checkDocument(doc) {
  const problems = [];
  for (const [name, AjvClass] of [["draft-07", Ajv], ["2020-12", Ajv2020]]) {
    const ajv = strictAjv(AjvClass, doc.vocabulary);
    const compile = (where, schema) => {
      try {
        return ajv.compile(schema);
      } catch (error) {
        problems.push(`${name} ${where}: ${error.message}`);
        return null;
      }
    };
    compile("templates.schema", doc.templates.schema);
    for (const app of doc.apps) {
      for (const action of app.actions) {
        compile(`${action.id} inputs`, action.inputs);
        compile(`${action.id} output.schema`, action.output.schema);
        const mapped = compile(`${action.id} mapped_inputs`, action.mapped_inputs);
        if (!mapped) continue;
        if (!mapped(action.sample_request)) {
          problems.push(`${name} ${action.id} sample_request: ${ajv.errorsText(mapped.errors)}`);
        }
        // Every field mapped to a template, in both template forms.
        for (const template of ["{{trigger.x}}", "<<steps.a.output.b>>"]) {
          const all = {};
          for (const key of Object.keys(action.mapped_inputs.properties)) all[key] = template;
          if (!mapped(all)) {
            problems.push(`${name} ${action.id} ${template}: ${ajv.errorsText(mapped.errors)}`);
          }
        }
      }
    }
  }
  return problems;
}

window.harness = { render, checkDocument };
