// ESLint for the report page's script (pdebug/report/static/report.js): one classic browser
// script (no modules, no build step), inlined into the page and allowed by its CSP hash.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: { ...globals.browser },
    },
    rules: {
      // the page builds every element with createElement/textContent, never markup strings
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "build elements; names from a dump are text" },
        { property: "outerHTML", message: "build elements; names from a dump are text" },
        { property: "insertAdjacentHTML", message: "build elements; names from a dump are text" },
      ],
      "no-restricted-globals": ["error", "eval"],
      "no-implied-eval": "error",
      "no-new-func": "error",
      "eqeqeq": "error",
      "strict": ["error", "function"],
      "no-shadow": "error",
      "no-use-before-define": ["error", { functions: false, variables: false }],
      "no-var": "off",
    },
  },
];
