// Modern JS (node 20, ES modules; page.evaluate() bodies run in the browser): eslint-config-wikimedia's
// rules without its layout rules, as these files keep their own layout (2-space indent, no spaces in
// parens). Run by `npm run lint:e2e` in extension/RealTimeNotify, where the config is installed.
module.exports = {
	'root': true,
	'extends': [
		'../extension/RealTimeNotify/node_modules/eslint-config-wikimedia/server.json'
	],
	'parserOptions': {
		'ecmaVersion': 2022,
		'sourceType': 'module'
	},
	'env': {
		'node': true,
		'browser': true,
		'es2022': true
	},
	'globals': {
		'mw': 'readonly',
		'$': 'readonly'
	},
	'ignorePatterns': [
		'node_modules/',
		'artifacts/'
	],
	'rules': {
		'indent': 'off',
		'space-in-parens': 'off',
		'array-bracket-spacing': 'off',
		'computed-property-spacing': 'off',
		'template-curly-spacing': 'off',
		'object-curly-spacing': 'off',
		'max-len': [
			'error',
			{
				'code': 140,
				'ignoreStrings': true,
				'ignoreTemplateLiterals': true,
				'ignoreRegExpLiterals': true
			}
		],
		'camelcase': 'off',
		'jsdoc/require-param': 'off',
		'jsdoc/require-returns': 'off',
		'jsdoc/require-param-type': 'off',
		'jsdoc/require-returns-type': 'off',
		'n/no-missing-import': 'off',
		'n/no-unpublished-import': 'off',
		'security/detect-non-literal-fs-filename': 'off',
		'security/detect-child-process': 'off',
		'no-use-before-define': 'off',
		'no-loop-func': 'off',
		'no-await-in-loop': 'off',
		// The tests' regular expressions read their own logs and pages, not input from outside.
		'security/detect-unsafe-regex': 'off',
		// Some tests read WebSocket frame headers by hand.
		'no-bitwise': 'off',
		'brace-style': 'off',
		'comma-dangle': 'off',
		'curly': 'off',
		'max-statements-per-line': 'off',
		'operator-linebreak': 'off',
		'quote-props': 'off',
		'arrow-parens': 'off',
		'no-multi-spaces': 'off',
		'key-spacing': 'off',
		'comma-spacing': 'off',
		'space-before-function-paren': 'off',
		'quotes': 'off',
		'dot-notation': 'off',
		'one-var': 'off',
		'vars-on-top': 'off',
		'no-underscore-dangle': 'off',
		'prefer-const': 'off',
		'spaced-comment': 'off',
		'no-mixed-operators': 'off',
		'es-x/no-array-prototype-at': 'off',
		'security/detect-non-literal-regexp': 'off',
		'n/no-unsupported-features/node-builtins': 'off',
		'no-promise-executor-return': 'off'
	},
	'settings': {
		'n': {
			'version': '>=20.0.0'
		}
	}
};
