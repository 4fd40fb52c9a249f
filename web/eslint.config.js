// Lint rules: ESLint's and typescript-eslint's recommended sets, type-aware.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "src/api/*.gen.ts", "eslint.config.js", "scripts/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The console builds no HTML from strings.
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "build elements, never parse HTML" },
        { property: "outerHTML", message: "build elements, never parse HTML" },
        { property: "insertAdjacentHTML", message: "build elements, never parse HTML" },
      ],
      "no-restricted-syntax": [
        "error",
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: "no HTML from strings" },
        { selector: "JSXAttribute[name.name='style']", message: "the CSP allows no inline styles: use style.css" },
      ],
      "@typescript-eslint/no-floating-promises": "error",
    },
  },
);
